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
mod tests {
    use super::*;

    /// age continuous 16–90 (required), is_female binary, race categorical, lactate continuous
    /// 0.1–30, death binary.
    fn schema() -> Schema {
        let mut age = ColumnSpec::new("age", ColumnKind::Continuous);
        age.min = Some(16.0);
        age.max = Some(90.0);
        age.missing_allowed = false;
        let female = ColumnSpec::new("is_female", ColumnKind::Binary);
        let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
        race.categories = vec!["black".into(), "white".into(), "asian".into()];
        let mut lactate = ColumnSpec::new("lactate", ColumnKind::Continuous);
        lactate.min = Some(0.1);
        lactate.max = Some(30.0);
        let death = ColumnSpec::new("death", ColumnKind::Binary);
        Schema::new(vec![age, female, race, lactate, death]).unwrap()
    }

    fn csv(answer: &str) -> ParsedAnswer {
        parse_answer(answer, &schema(), AnswerFormat::Csv)
    }

    fn json(answer: &str) -> ParsedAnswer {
        parse_answer(answer, &schema(), AnswerFormat::JsonRows)
    }

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    fn reasons(parsed: &ParsedAnswer) -> Vec<(usize, &str)> {
        parsed
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect()
    }

    const HEADER: &str = "age,is_female,race,lactate,death";

    #[test]
    fn a_clean_csv_answer_gives_its_rows() {
        let p = csv(&format!("{HEADER}\n45,1,white,2.1,0\n70,0,black,,1\n"));
        assert_eq!(
            p.rows,
            vec![
                row(&["45", "1", "white", "2.1", "0"]),
                row(&["70", "0", "black", "", "1"])
            ]
        );
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert!(!p.truncated);
    }

    #[test]
    fn fences_preamble_and_postscript_are_dropped_silently() {
        let answer = format!(
            "Here are 3 rows:\n\n```csv\n{HEADER}\n45,1,white,2.1,0\n\n50,0,asian,1.0,0\n\
             61,1,black,3.3,1\n```\n\nNote: these values are synthetic and not real patients."
        );
        let p = csv(&answer);
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.rows[2], row(&["61", "1", "black", "3.3", "1"]));
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert!(!p.truncated);
        let tilde = csv(&format!("~~~\n{HEADER}\n45,1,white,2.1,0\n~~~"));
        assert_eq!(tilde.rows.len(), 1);
        assert!(tilde.rejected.is_empty());
    }

    #[test]
    fn a_repeated_header_is_skipped() {
        let p = csv(&format!(
            "{HEADER}\n45,1,white,2.1,0\n{HEADER}\n50,0,asian,1.0,0\nAGE, Is_Female ,race,lactate,death\n51,0,asian,1.0,0"
        ));
        assert_eq!(p.rows.len(), 3);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    }

    #[test]
    fn a_reordered_or_partial_header_maps_by_name() {
        let p = csv("\"Race\",death,AGE\nwhite,0,45\nasian,1,33\n");
        assert_eq!(
            p.rows,
            vec![
                row(&["45", "", "white", "", "0"]),
                row(&["33", "", "asian", "", "1"])
            ]
        );
        assert!(p.rejected.is_empty());
        // A later header with another order remaps the rows after it.
        let q = csv("age,race\n45,white\nrace,age\nblack,60\n");
        assert_eq!(q.rows[1], row(&["60", "", "black", "", ""]));
    }

    #[test]
    fn headerless_rows_use_the_schema_order_only_at_the_right_width() {
        let p = csv("45,1,white,2.1,0\n50,0,asian,1.0,0\n52,0,asian,1.0\n61,1,black,3.3,1\n");
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.rows[1], row(&["50", "0", "asian", "1.0", "0"]));
        assert_eq!(reasons(&p), vec![(3, "expected 5 fields, found 4")]);
        assert!(!p.truncated);
    }

    #[test]
    fn semicolon_and_tab_separated_answers_are_read() {
        let p = csv("age;is_female;race;lactate;death\n45;1;white;2.1;0\n50;0;asian;;1\n");
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1], row(&["50", "0", "asian", "", "1"]));
        let t = csv("age\tis_female\trace\tlactate\tdeath\n45\t1\twhite\t2.1\t0\n");
        assert_eq!(t.rows, vec![row(&["45", "1", "white", "2.1", "0"])]);
        // Headerless semicolons: the separator giving the schema's width wins.
        let h = csv("45;1;white;2.1;0\n50;0;asian;1.0;1\n");
        assert_eq!(h.rows.len(), 2);
        // Unquoted "2,1" in a semicolon answer is not a thousands separator: rejected.
        let d = csv("age;is_female;race;lactate;death\n45;1;white;2,1;0\n");
        assert!(d.rows.is_empty());
        assert!(
            d.rejected[0].reason.contains("column 'lactate'"),
            "{:?}",
            d.rejected
        );
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        let p = csv(&format!(
            "{HEADER}\n45,1,\"white, non-hispanic\",2.1,0\n46,1,\"White\",\"2.5\",\"0\"\n"
        ));
        assert_eq!(p.rows, vec![row(&["46", "1", "white", "2.5", "0"])]);
        assert_eq!(
            reasons(&p),
            vec![(
                2,
                "column 'race': 'white, non-hispanic' is not one of the schema's categories"
            )]
        );
        // Thousands separators only in quoted cells; escaped quotes in free text.
        let mut los = ColumnSpec::new("los_minutes", ColumnKind::Integer);
        los.max = Some(100_000.0);
        let note = ColumnSpec::new("note", ColumnKind::Categorical);
        let s = Schema::new(vec![los, note]).unwrap();
        let q = parse_answer(
            "los_minutes,note\n\"1,200\",\"said \"\"hi\"\", left\"\n300,plain\n",
            &s,
            AnswerFormat::Csv,
        );
        assert_eq!(
            q.rows,
            vec![row(&["1200", "said \"hi\", left"]), row(&["300", "plain"])]
        );
    }

    #[test]
    fn a_cut_off_last_row_sets_truncated() {
        let p = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0,as"));
        assert_eq!(p.rows.len(), 1);
        assert!(p.truncated);
        assert_eq!(reasons(&p), vec![(3, TRUNCATED)]);
        // Cut inside a quoted field, even with the right number of fields.
        let q = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0,\"asi"));
        assert!(q.truncated);
        assert_eq!(reasons(&q), vec![(3, TRUNCATED)]);
        // Fewer fields on the last line, even with a newline after it.
        let r = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0\n"));
        assert!(r.truncated);
        // A short row followed by a closing fence was not cut off.
        let s = csv(&format!("```\n{HEADER}\n45,1,white,2.1,0\n50,0\n```"));
        assert!(!s.truncated);
        assert_eq!(reasons(&s), vec![(4, "expected 5 fields, found 2")]);
        // A complete answer without a final newline is not truncated.
        let t = csv(&format!("{HEADER}\n45,1,white,2.1,0"));
        assert!(!t.truncated);
        assert_eq!(t.rows.len(), 1);
    }

    #[test]
    fn wrong_field_counts_are_rejected_with_the_counts() {
        let p = csv(&format!(
            "{HEADER}\n45,1,white,2.1,0,7\n45,1,white\n45,1,white,2.1,0,\n50,0,asian,1.0,0\n"
        ));
        assert_eq!(
            reasons(&p),
            vec![
                (2, "expected 5 fields, found 6"),
                (3, "expected 5 fields, found 3")
            ]
        );
        // One trailing empty field is tolerated.
        assert_eq!(p.rows.len(), 2);
        assert!(!p.truncated);
    }

    #[test]
    fn prose_between_rows_is_rejected_but_not_around_them() {
        let p = csv(&format!(
            "Sure, here are the rows you asked for.\n{HEADER}\n45,1,white,2.1,0\n\
             The next patient is older than the others\n80,0,black,4.0,1\nHope this helps!"
        ));
        assert_eq!(p.rows.len(), 2);
        assert_eq!(reasons(&p), vec![(4, NOT_A_DATA_ROW)]);
        assert_eq!(
            p.rejected[0].text,
            "The next patient is older than the others"
        );
        assert!(!p.truncated);
    }

    #[test]
    fn markdown_tables_and_comma_split_sentences_are_handled() {
        let p = csv(
            "| age | is_female | race | lactate | death |\n|---|:---:|---|---|---|\n\
             | 45 | 1 | white | 2.1 | 0 |\n| 50 | 0 | asian | | 1 |",
        );
        assert_eq!(
            p.rows,
            vec![
                row(&["45", "1", "white", "2.1", "0"]),
                row(&["50", "0", "asian", "", "1"])
            ]
        );
        assert!(p.rejected.is_empty() && !p.truncated, "{:?}", p.rejected);
        // A postscript with as many commas as columns is still prose.
        let q = csv(&format!(
            "{HEADER}\n45,1,white,2.1,0\nI hope, this, is, what, you wanted\n"
        ));
        assert_eq!(q.rows.len(), 1);
        assert!(q.rejected.is_empty(), "{:?}", q.rejected);
    }

    #[test]
    fn units_and_yes_no_are_cleaned_in_numeric_columns() {
        let p = csv(&format!(
            "{HEADER}\n45 years,yes,white,1.2 mg/dL,No\n88 bpm,TRUE,asian,12%,false\n\
             37.2°C,0,black,2.0mmol/L,1\n"
        ));
        assert_eq!(
            p.rows,
            vec![
                row(&["45", "1", "white", "1.2", "0"]),
                row(&["88", "1", "asian", "12", "0"]),
                row(&["37.2", "0", "black", "2.0", "1"])
            ]
        );
        // Text that is not a number with a unit is left to validation.
        let q = csv(&format!("{HEADER}\n120/80,Female,white,about 2,0\n"));
        assert_eq!(
            reasons(&q),
            vec![(
                2,
                "column 'age': '120/80' is not a number (or an empty cell for missing); \
                 column 'is_female': 'Female' is not 0 or 1 (or an empty cell for missing); \
                 column 'lactate': 'about 2' is not a number (or an empty cell for missing)"
            )]
        );
    }

    #[test]
    fn categories_match_case_insensitively() {
        let p = csv(&format!("{HEADER}\n45,1,White,2.1,0\n46,0,ASIAN,2.1,0\n"));
        assert_eq!(p.rows[0][2], "white");
        assert_eq!(p.rows[1][2], "asian");
        assert!(p.rejected.is_empty());
    }

    #[test]
    fn invalid_rows_carry_the_schemas_reasons() {
        let p = csv(&format!(
            "{HEADER}\n104,1,white,2.1,0\n45,1,martian,45,0\n45,1,white,2.1,0\n"
        ));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(
            reasons(&p),
            vec![
                (2, "column 'age': 104 is outside the valid range [16, 90]"),
                (
                    3,
                    "column 'race': 'martian' is not one of the schema's categories; \
                     column 'lactate': 45 is outside the valid range [0.1, 30]"
                )
            ]
        );
        assert_eq!(p.rejected[0].text, "104,1,white,2.1,0");
    }

    #[test]
    fn missing_tokens_become_empty_cells() {
        let p = csv(&format!(
            "{HEADER}\n45,NA,-,n/a,unknown\n46,—,Unknown,null,N/A\n47,\" \",None,NaN,\n\
             NA,1,white,2.0,0\n"
        ));
        assert_eq!(
            p.rows,
            vec![
                row(&["45", "", "", "", ""]),
                row(&["46", "", "", "", ""]),
                row(&["47", "", "", "", ""])
            ]
        );
        assert_eq!(
            reasons(&p),
            vec![(
                5,
                "column 'age': missing, but the schema does not allow missing values"
            )]
        );
        // A category spelled like a missing token stays a category.
        let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
        race.categories = vec!["Unknown".into(), "white".into()];
        let s = Schema::new(vec![race, ColumnSpec::new("x", ColumnKind::Integer)]).unwrap();
        let q = parse_answer("race,x\nunknown,1\n", &s, AnswerFormat::Csv);
        assert_eq!(q.rows, vec![row(&["Unknown", "1"])]);
    }

    #[test]
    fn empty_and_refusing_answers_give_no_rows() {
        for answer in ["", "   \n\n", "```\n```", "\u{feff}"] {
            for format in [AnswerFormat::Csv, AnswerFormat::JsonRows] {
                let p = parse_answer(answer, &schema(), format);
                assert!(p.rows.is_empty() && !p.truncated, "{answer:?}");
                if format == AnswerFormat::Csv {
                    assert!(p.rejected.is_empty(), "{answer:?}: {:?}", p.rejected);
                }
            }
        }
        let p = csv("I'm sorry, I can't help with that.");
        assert!(p.rows.is_empty());
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 1);
        assert_eq!(
            p.rejected[0].reason,
            "the answer has no data rows (it looks like a refusal)"
        );
        assert_eq!(p.rejected[0].text, "I'm sorry, I can't help with that.");
        // A header and nothing else: nothing to reject.
        let h = csv(&format!("{HEADER}\n"));
        assert!(h.rows.is_empty() && h.rejected.is_empty());
    }

    #[test]
    fn rejection_text_is_shortened() {
        let long = format!(
            "{HEADER}\n45,1,white,2.1,0\n{}\n46,1,white,2.1,0",
            "x".repeat(500)
        );
        let p = csv(&long);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].text.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(p.rejected[0].text.ends_with('…'));
    }

    const JSON_ROWS: &str = r#"[
  {"age": 45, "is_female": true, "race": "White", "lactate": 2.1, "death": 0},
  {"age": "70 years", "is_female": false, "race": "black", "lactate": null, "death": 1, "bmi": 31},
  {"age": 104, "is_female": 1, "race": "asian", "lactate": 1.0, "death": 0},
  {"AGE": 33, "race": "asian"}
]"#;

    fn expected_json_rows() -> Vec<Vec<String>> {
        vec![
            row(&["45", "1", "white", "2.1", "0"]),
            row(&["70", "0", "black", "", "1"]),
            row(&["33", "", "asian", "", ""]),
        ]
    }

    #[test]
    fn a_json_array_gives_its_rows() {
        let p = json(JSON_ROWS);
        assert_eq!(p.rows, expected_json_rows());
        assert_eq!(
            reasons(&p),
            vec![(0, "column 'age': 104 is outside the valid range [16, 90]")]
        );
        assert!(p.rejected[0].text.starts_with('{'));
        assert!(!p.truncated);
    }

    #[test]
    fn wrapped_fenced_and_json_lines_answers_are_read() {
        let fenced =
            format!("Here you go:\n```json\n{JSON_ROWS}\n```\nLet me know if you need more.");
        assert_eq!(json(&fenced).rows, expected_json_rows());
        for key in ["rows", "data"] {
            let wrapped = format!("{{\"{key}\": {JSON_ROWS}}}");
            let p = json(&wrapped);
            assert_eq!(p.rows, expected_json_rows(), "{key}");
            assert_eq!(p.rejected.len(), 1);
        }
        let lines = "{\"age\": 45, \"is_female\": 1, \"race\": \"white\", \"lactate\": 2.1, \"death\": 0}\n\
                     {\"age\": 50, \"is_female\": 0, \"race\": \"asian\", \"lactate\": \"1.5 mmol/L\", \"death\": 1}\n";
        let p = json(lines);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1], row(&["50", "0", "asian", "1.5", "1"]));
        // Arrays of values in schema order.
        let positional = json("[[45, 1, \"white\", 2.1, 0], [45, 1]]");
        assert_eq!(
            positional.rows,
            vec![row(&["45", "1", "white", "2.1", "0"])]
        );
        assert_eq!(
            reasons(&positional),
            vec![(0, "expected 5 values, found 2")]
        );
    }

    #[test]
    fn broken_and_truncated_json_keeps_the_good_objects() {
        let cut = "```json\n[\n{\"age\": 45, \"is_female\": 1, \"race\": \"white\", \"lactate\": 2.1, \"death\": 0},\n\
                   {\"age\": 50, \"is_female\": 0, \"ra";
        let p = json(cut);
        assert_eq!(p.rows, vec![row(&["45", "1", "white", "2.1", "0"])]);
        assert!(p.truncated);
        assert_eq!(reasons(&p), vec![(0, TRUNCATED)]);
        assert!(p.rejected[0].text.starts_with("{\"age\": 50"));
        let lines = "{\"age\": 45, \"death\": 0}\n{\"age\": 46,, \"death\": 0}\n{\"age\": 47, \"death\": 1}";
        let q = json(lines);
        assert_eq!(q.rows.len(), 2);
        assert!(!q.truncated);
        assert_eq!(q.rejected.len(), 1);
        assert!(
            q.rejected[0].reason.starts_with("not valid JSON"),
            "{:?}",
            q.rejected
        );
        // Cut between rows: incomplete, nothing partial to reject.
        let r = json("{\"rows\": [{\"age\": 45, \"death\": 0},");
        assert_eq!(r.rows.len(), 1);
        assert!(r.truncated && r.rejected.is_empty());
    }

    #[test]
    fn prose_in_json_format_is_one_rejection() {
        for answer in [
            "I'm sorry, I can't help with that.",
            "age,is_female,race,lactate,death\n45,1,white,2.1,0",
            "Sure [see below] nothing here",
        ] {
            let p = json(answer);
            assert!(p.rows.is_empty(), "{answer}");
            assert_eq!(reasons(&p), vec![(0, NOT_JSON)], "{answer}");
        }
        let p = json("[{\"note\": \"synthetic\"}, 7]");
        assert!(p.rows.is_empty());
        assert_eq!(
            reasons(&p),
            vec![
                (0, "the object has none of the schema's columns"),
                (0, "not a JSON object")
            ]
        );
    }

    /// A small deterministic generator (xorshift64*), so the loop needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// `text` with a few random edits: cut, delete, insert, duplicate a line, swap lines.
    fn mangle(rng: &mut Rng, text: &str) -> String {
        const PIECES: &[&str] = &[
            "\"", ",", ";", "\t", "\n", "{", "}", "[", "]", ":", "```", "é", "—", "\\", "NA",
            "age", "1e999", "-", " ", "\r\n", "°C", "\u{feff}",
        ];
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..1 + rng.below(5) {
            let len = chars.len();
            match rng.below(5) {
                0 => chars.truncate(rng.below(len + 1)),
                1 if len > 0 => {
                    let at = rng.below(len);
                    let end = (at + 1 + rng.below(8)).min(len);
                    chars.drain(at..end);
                }
                2 => {
                    let at = rng.below(len + 1);
                    let piece = PIECES[rng.below(PIECES.len())];
                    for (k, c) in piece.chars().enumerate() {
                        chars.insert(at + k, c);
                    }
                }
                3 => {
                    let s: String = chars.iter().collect();
                    let mut lines: Vec<&str> = s.lines().collect();
                    if !lines.is_empty() {
                        let i = rng.below(lines.len());
                        let j = rng.below(lines.len());
                        lines.swap(i, j);
                        let dup = lines[rng.below(lines.len())];
                        lines.insert(rng.below(lines.len() + 1), dup);
                    }
                    chars = lines.join("\n").chars().collect();
                }
                _ => {
                    if len > 1 {
                        let (i, j) = (rng.below(len), rng.below(len));
                        chars.swap(i, j);
                    }
                }
            }
        }
        chars.into_iter().collect()
    }

    #[test]
    fn random_and_mangled_answers_never_panic_and_only_give_valid_rows() {
        let s = schema();
        let valid_csv = format!(
            "Here are the rows:\n```csv\n{HEADER}\n45,1,white,2.1,0\n\"70\",0,\"Black\",,1\n\
             33 years,yes,asian,1.2 mg/dL,no\n```\nNote: synthetic."
        );
        let answers = [valid_csv.as_str(), JSON_ROWS];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut total_rows = 0;
        for case in 0..2000 {
            let input = if case % 4 == 0 {
                let len = rng.below(300);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                mangle(&mut rng, answers[case % 2])
            };
            for format in [AnswerFormat::Csv, AnswerFormat::JsonRows] {
                let p = parse_answer(&input, &s, format);
                for r in &p.rows {
                    assert_eq!(r.len(), s.columns().len(), "{input:?}");
                    assert!(s.validate_cells(r).is_ok(), "{input:?} gave {r:?}");
                }
                assert!(
                    p.rows.len() <= input.lines().count().max(1) * 4,
                    "{input:?}"
                );
                for rej in &p.rejected {
                    assert!(rej.text.chars().count() <= MAX_TEXT_CHARS + 1);
                    assert!(!rej.reason.is_empty());
                    if format == AnswerFormat::JsonRows {
                        assert_eq!(rej.line, 0);
                    } else {
                        assert!(rej.line >= 1 && rej.line <= input.lines().count());
                    }
                }
                total_rows += p.rows.len();
            }
        }
        // The mangled answers still yield rows most of the time: the loop exercised real rows.
        assert!(total_rows > 1000, "{total_rows}");
    }
}
