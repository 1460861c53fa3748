//! Schema-constrained decoding for an in-process LLM: a byte-level automaton that accepts exactly
//! the CSV answers whose every row parses ([`crate::parse`]) and validates against the
//! schema, and a token mask computed from it at every decoding step.
//!
//! # The language ([`RowGrammar`])
//! In CSV ([`RowGrammar::csv`]) the answer is the header line (the column names, in the order
//! given, comma-separated), then `rows` data lines, each ending in `\n`, then nothing (only
//! end-of-text). A data line is one field per column separated by `,`. In JSON Lines
//! ([`RowGrammar::json_lines`]) there is no header and each line is one object with every
//! column as a key, in order (`{"age":61,"unit":"MICU","lactate":null}`). Between fields the
//! text is fixed (`,`, `\n`, `,"name":`, `}\n`), so the automaton is a sequence of literals and
//! fields. Each field follows a small rule compiled from the column's [`ColumnSpec`]:
//! - **Numbers** (integer and continuous): an optional `-`, an integer part without leading zeros
//!   (`0` or `[1-9][0-9]*`), and for continuous columns an optional `.` with 1 to `decimals`
//!   digits (3 by default, more only when the range is too narrow for 3). No exponent, no `+`, no
//!   `-0`. The value must lie in `[min, max]` (unbounded sides are capped at ±10¹²). Bounds are
//!   turned into an interval of integers at scale 10^decimals, found by formatting candidates and
//!   parsing them with `f64::from_str`, the validator's own conversion, so the test is exact.
//!   Prefix test: a digit (or `.`) may be added only if some completion of the field still lands
//!   in the interval. For an integer part `P` with `j` more digits to come the reachable values
//!   are `[P·10^j, (P+1)·10^j)` (times the scale), one interval per `j`, so the test is a few
//!   integer comparisons (in [35, 42]: `3` and `4` live, `5` dead, `42.` live only because `42.0`
//!   is, `42.1` dead).
//! - **Binary**: `0` or `1`.
//! - **Categorical** with categories: one of them, from a byte trie (in JSON as a JSON string). In
//!   CSV a category containing `,`,
//!   `"`, `;`, `|` or a tab, or that could read as a Markdown rule or fence, is written CSV-quoted
//!   (`"a, b"`, `""` for a quote). Categories the answer parser could not read back as
//!   themselves are left out: empty ones, ones with surrounding spaces or quote characters, line
//!   breaks or control characters, missing-value spellings (`NA`, `None`, ...) and ones equal to
//!   a column name (a row made of column names reads as a repeated header).
//! - **Categorical without categories** (any text validates): 1 to 24 characters from
//!   `[A-Za-z0-9_./-]`, not a missing-value spelling, not only dashes, not a column name.
//! - **Missing**: an empty field (JSON: `null`), only where the schema allows missing values (and
//!   never in a one-column CSV grammar, whose empty row would be a blank line).
//! - **Fixed** columns (the group a request is conditioned on) take only their given value.
//!
//! Every state the automaton can reach is *live* (some completion of the whole answer exists):
//! each step is refused unless the field state it leads to can still complete, and every field
//! has at least one complete value (checked when the grammar is built).
//!
//! # Masking ([`ConstrainedDecoder::allowed`])
//! Tokens are byte strings that may span fields (`",1"`, `".5\n"`). [`TokenVocabulary`] builds a
//! byte trie of all ordinary tokens once, flattened in depth-first order (each node stores its
//! byte, depth and the end of its subtree). Masking walks that array once with a stack of
//! automaton states, one per depth: a node whose byte the automaton refuses skips its whole
//! subtree, and a node it accepts allows every token that ends there. Cost is proportional to the
//! live part of the trie, not to the vocabulary (see the `grammar` bench for measured figures).
//! Special tokens (`<|im_start|>` and the like) are never allowed; end-of-text only when the
//! answer is complete, and then it is the only token allowed.
//!
//! The vocabulary must contain every single byte as a token (byte-level BPE vocabularies do);
//! [`TokenVocabulary::missing_single_bytes`] says which are absent otherwise.

mod cross;
mod number;

use std::sync::Arc;

use ehrsynth_table::cell::{is_missing_token, parse_number};

use cross::{Bound, CrossRules, Earlier};
use number::{Interval, NUMBER_START, NumberRule, NumberState};

use super::cell_text::{clean_text, eq_ci, is_extra_missing};
use ehrsynth_table::validate::validate_text;
use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};

use crate::LlmError;

/// Decimals allowed in continuous values unless the range needs more.
pub const DEFAULT_DECIMALS: u32 = 3;
/// The most decimals a continuous value may get, for very narrow ranges.
const MAX_DECIMALS: u32 = 12;
/// Bound on the magnitude of numbers when the schema gives none.
const NUMBER_CAP: f64 = 1e12;
/// Longest free-text category value.
const FREE_TEXT_MAX: usize = 24;

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// The model's tokens as raw bytes, with a byte trie for fast masking.
pub struct TokenVocabulary {
    tokens: Vec<Vec<u8>>,
    end_of_text: u32,
    special: Vec<bool>,
    trie: FlatTrie,
}

/// A byte trie in depth-first order. Node `i` (the root is implicit) has byte `bytes[i]`, depth
/// `depth[i]` (1 for a token's first byte), its subtree is `i..end[i]`, and the tokens ending at
/// it are `ids[first_id[i]..first_id[i + 1]]`.
#[derive(Default)]
struct FlatTrie {
    bytes: Vec<u8>,
    depth: Vec<u16>,
    end: Vec<u32>,
    first_id: Vec<u32>,
    ids: Vec<u32>,
    max_depth: usize,
}

/// A trie node while building: children sorted by byte.
#[derive(Default)]
struct BuildNode {
    children: Vec<(u8, u32)>,
    ids: Vec<u32>,
}

impl FlatTrie {
    fn build(tokens: &[Vec<u8>], usable: impl Fn(usize) -> bool) -> Self {
        let mut nodes = vec![BuildNode::default()];
        for (id, bytes) in tokens.iter().enumerate() {
            if bytes.is_empty() || !usable(id) {
                continue;
            }
            let mut at = 0usize;
            for &b in bytes {
                at = match nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => nodes[at].children[k].1 as usize,
                    Err(k) => {
                        let new = nodes.len() as u32;
                        nodes[at].children.insert(k, (b, new));
                        nodes.push(BuildNode::default());
                        new as usize
                    }
                };
            }
            nodes[at].ids.push(id as u32);
        }
        let mut flat = FlatTrie::default();
        // Iterative pre-order walk: (node, byte, depth, index in flat when entered or None).
        let mut stack: Vec<(usize, u8, u16, Option<usize>)> = nodes[0]
            .children
            .iter()
            .rev()
            .map(|&(b, n)| (n as usize, b, 1, None))
            .collect();
        while let Some((node, byte, depth, entered)) = stack.pop() {
            if let Some(index) = entered {
                flat.end[index] = flat.bytes.len() as u32;
                continue;
            }
            let index = flat.bytes.len();
            flat.bytes.push(byte);
            flat.depth.push(depth);
            flat.end.push(0);
            flat.first_id.push(flat.ids.len() as u32);
            flat.ids.extend_from_slice(&nodes[node].ids);
            flat.max_depth = flat.max_depth.max(depth as usize);
            stack.push((node, byte, depth, Some(index)));
            for &(b, child) in nodes[node].children.iter().rev() {
                stack.push((child as usize, b, depth + 1, None));
            }
        }
        flat.first_id.push(flat.ids.len() as u32);
        flat
    }

    /// Calls `allow(id)` for every token whose bytes `step` accepts one by one from `start`.
    fn walk<S: Copy>(
        &self,
        start: S,
        mut step: impl FnMut(&S, u8) -> Option<S>,
        mut allow: impl FnMut(u32),
    ) {
        let mut states = vec![start; self.max_depth + 1];
        let n = self.bytes.len();
        let mut i = 0;
        while i < n {
            let depth = self.depth[i] as usize;
            match step(&states[depth - 1], self.bytes[i]) {
                None => i = self.end[i] as usize,
                Some(next) => {
                    states[depth] = next;
                    let ids = &self.ids[self.first_id[i] as usize..self.first_id[i + 1] as usize];
                    for &id in ids {
                        allow(id);
                    }
                    i += 1;
                }
            }
        }
    }
}

/// GPT-2's byte-to-character table, inverted: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes for U+0100 onwards in byte order.
fn byte_level_decoder() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            let c = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('\u{FFFD}')
            };
            (c, b)
        })
        .collect()
}

/// A control token such as `<|im_start|>`, `<|endoftext|>` or `<repo_name>`.
fn looks_special(bytes: &[u8]) -> bool {
    bytes.len() >= 3
        && bytes[0] == b'<'
        && bytes[bytes.len() - 1] == b'>'
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'|')
        && (bytes.len() > 4 || bytes[1] == b'|')
}

impl TokenVocabulary {
    /// The vocabulary from each token's raw bytes (index = token id). Tokens that look like
    /// control tokens (`<|...|>`, `<name_with_underscores>`) are special and never allowed, nor
    /// are empty ones; mark others with [`TokenVocabulary::with_special`].
    pub fn new(tokens: Vec<Vec<u8>>, end_of_text: u32) -> Self {
        let special: Vec<bool> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| id as u32 == end_of_text || looks_special(t))
            .collect();
        Self::build(tokens, end_of_text, special)
    }

    /// The vocabulary from GPT-2 style byte-level token strings (as GGUF files of byte-level BPE
    /// models store them: each byte is one printable character, `Ġ` for a space, `Ċ` for a
    /// newline). Characters outside that alphabet (in control tokens) are kept as UTF-8.
    pub fn from_byte_level(tokens: &[String], end_of_text: u32) -> Self {
        let decode = byte_level_decoder();
        let bytes = tokens
            .iter()
            .map(|t| {
                let mut out = Vec::with_capacity(t.len());
                for c in t.chars() {
                    match decode.get(&c) {
                        Some(&b) => out.push(b),
                        None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                out
            })
            .collect();
        Self::new(bytes, end_of_text)
    }

    /// The same vocabulary with tokens `ids` also special (e.g. the GGUF's control tokens).
    pub fn with_special(self, ids: impl IntoIterator<Item = u32>) -> Self {
        let mut special = self.special;
        for id in ids {
            if let Some(s) = special.get_mut(id as usize) {
                *s = true;
            }
        }
        Self::build(self.tokens, self.end_of_text, special)
    }

    fn build(tokens: Vec<Vec<u8>>, end_of_text: u32, special: Vec<bool>) -> Self {
        let trie = FlatTrie::build(&tokens, |id| !special[id]);
        Self {
            tokens,
            end_of_text,
            special,
            trie,
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The end-of-text token.
    pub fn end_of_text(&self) -> u32 {
        self.end_of_text
    }

    /// The bytes of token `id`.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// Whether token `id` is special (never part of an answer's text).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(true)
    }

    /// Bytes with no single-byte ordinary token: decoding can get stuck only if some are needed.
    pub fn missing_single_bytes(&self) -> Vec<u8> {
        let mut present = [false; 256];
        for (id, t) in self.tokens.iter().enumerate() {
            if t.len() == 1 && !self.special[id] {
                present[t[0] as usize] = true;
            }
        }
        (0..=255u8).filter(|&b| !present[b as usize]).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Field rules

/// A choice among fixed byte strings (categories, binary digits, a fixed value), as a trie.
#[derive(Debug, Clone, Default)]
struct ChoiceRule {
    /// Node 0 is the root; children sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    complete: Vec<bool>,
    /// Per node: the number its option reads as, where an option ends there and is one.
    values: Vec<Option<f64>>,
}

impl ChoiceRule {
    fn new<B: AsRef<[u8]>>(options: &[B]) -> Self {
        let mut rule = Self {
            children: vec![Vec::new()],
            complete: vec![false],
            values: vec![None],
        };
        for option in options {
            let mut at = 0usize;
            for &b in option.as_ref() {
                at = match rule.children[at].binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => rule.children[at][k].1 as usize,
                    Err(k) => {
                        let new = rule.children.len() as u32;
                        rule.children[at].insert(k, (b, new));
                        rule.children.push(Vec::new());
                        rule.complete.push(false);
                        rule.values.push(None);
                        new as usize
                    }
                };
            }
            rule.complete[at] = true;
            rule.values[at] = std::str::from_utf8(option.as_ref())
                .ok()
                .and_then(parse_number);
        }
        rule
    }

    fn step(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.children[node as usize];
        children.iter().find(|c| c.0 == byte).map(|c| c.1)
    }

    fn has_options(&self) -> bool {
        self.complete.iter().any(|&c| c)
    }
}

/// Free text for categorical columns without a category list.
#[derive(Debug, Clone)]
struct FreeTextRule {
    /// Texts that would not read back as themselves: column names (lowercase).
    forbidden: Vec<String>,
    /// Written as a JSON string (`"text"`).
    quoted: bool,
}

/// The bytes of a free-text field so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FreeTextState {
    len: u8,
    bytes: [u8; FREE_TEXT_MAX],
    /// The opening quote was read (quoted rules only).
    open: bool,
    /// The closing quote was read.
    closed: bool,
}

fn free_text_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

impl FreeTextRule {
    /// Whether `text` (non-empty, allowed bytes) reads back as itself.
    fn acceptable(&self, text: &[u8]) -> bool {
        let Ok(t) = std::str::from_utf8(text) else {
            return false;
        };
        !is_missing_token(t)
            && !is_extra_missing(t)
            && !t.bytes().all(|b| b == b'-')
            && !self.forbidden.iter().any(|f| *f == t.to_lowercase())
    }

    fn step(&self, s: &FreeTextState, byte: u8) -> Option<FreeTextState> {
        if self.quoted && !s.open {
            return (byte == b'"').then_some(FreeTextState { open: true, ..*s });
        }
        if s.closed {
            return None;
        }
        if self.quoted && byte == b'"' {
            let done = s.len > 0 && self.acceptable(&s.bytes[..s.len as usize]);
            return done.then_some(FreeTextState { closed: true, ..*s });
        }
        let len = s.len as usize;
        if !free_text_byte(byte) || len >= FREE_TEXT_MAX {
            return None;
        }
        let mut next = *s;
        next.bytes[len] = byte;
        next.len += 1;
        let text = &next.bytes[..len + 1];
        // Live when complete now or after one more character (enough: that state is complete).
        let live = self.acceptable(text)
            || (len + 1 < FREE_TEXT_MAX
                && [b'x', b'q', b'z', b'7'].iter().any(|&c| {
                    let mut longer = text.to_vec();
                    longer.push(c);
                    self.acceptable(&longer)
                }));
        live.then_some(next)
    }

    fn is_complete(&self, s: &FreeTextState) -> bool {
        if self.quoted {
            s.closed
        } else {
            s.len > 0 && self.acceptable(&s.bytes[..s.len as usize])
        }
    }
}

#[derive(Debug, Clone)]
enum FieldKind {
    Number(NumberRule),
    Choice(ChoiceRule),
    FreeText(FreeTextRule),
}

/// How a missing value is written, if allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Never missing.
    No,
    /// An empty field (CSV).
    Empty,
    /// `null` (JSON).
    Null,
}

/// One column's rule: its values, and how (whether) it may be missing.
#[derive(Debug, Clone)]
struct FieldRule {
    kind: FieldKind,
    missing: Missing,
}

/// What the rules across columns leave a field in one row ([`cross`]), set when the field
/// begins from the values written before it: which values, and whether it may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    value: ValueLimit,
    presence: Presence,
}

impl Limit {
    const FREE: Limit = Limit {
        value: ValueLimit::Free,
        presence: Presence::AsSchema,
    };
}

/// The values a field may take under the rules across columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueLimit {
    /// The column's own rule.
    Free,
    /// A binary field that may only be this digit.
    Digit(u8),
    /// A number in this interval.
    Range(Interval),
}

/// Whether a field may be missing under the rules across columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// As the column's own rule says.
    AsSchema,
    /// Never (a panel whose other columns were written).
    Required,
    /// Only missing (a panel whose other columns were left empty, or no number fits).
    MissingOnly,
}

/// Where inside a field the automaton is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldState {
    Number(NumberState),
    Choice(u32),
    FreeText(FreeTextState),
    /// Inside `null`, after this many bytes.
    Null(u8),
}

impl FieldRule {
    fn start(&self) -> FieldState {
        match self.kind {
            FieldKind::Number(_) => FieldState::Number(NUMBER_START),
            FieldKind::Choice(_) => FieldState::Choice(0),
            FieldKind::FreeText(_) => FieldState::FreeText(FreeTextState {
                len: 0,
                bytes: [0; FREE_TEXT_MAX],
                open: false,
                closed: false,
            }),
        }
    }

    /// The limit `bound` sets on this field. A bound no value of the column meets leaves only
    /// a missing value where one is allowed, and the column's own rule otherwise (that row
    /// then fails validation, which names the rule: a bounded cost, never a dead end); so does
    /// a presence the column cannot give.
    fn limit(&self, bound: Bound) -> Limit {
        if bound.is_free() {
            return Limit::FREE;
        }
        let mut presence = match bound.present {
            Some(true) if self.has_present_values() => Presence::Required,
            Some(false) if self.missing != Missing::No => Presence::MissingOnly,
            _ => Presence::AsSchema,
        };
        let value = match &self.kind {
            FieldKind::Choice(_) => bound.digit.map_or(ValueLimit::Free, ValueLimit::Digit),
            FieldKind::Number(_) if bound.lo.is_infinite() && bound.hi.is_infinite() => {
                ValueLimit::Free
            }
            FieldKind::Number(rule) => match rule.within(bound.lo, bound.hi) {
                Some(range) => ValueLimit::Range(range),
                None => {
                    if self.missing != Missing::No && presence != Presence::Required {
                        presence = Presence::MissingOnly;
                    }
                    ValueLimit::Free
                }
            },
            FieldKind::FreeText(_) => ValueLimit::Free,
        };
        Limit { value, presence }
    }

    /// Whether the field has a value other than missing.
    fn has_present_values(&self) -> bool {
        match &self.kind {
            FieldKind::Number(_) | FieldKind::FreeText(_) => true,
            FieldKind::Choice(rule) => rule.has_options(),
        }
    }

    /// The value of a complete field as the rules read it: its number, NaN for a present
    /// value that is not a number, `None` when missing.
    fn value(&self, s: &FieldState) -> Option<f64> {
        if *s == self.start() {
            return None;
        }
        match (&self.kind, s) {
            (_, FieldState::Null(_)) => None,
            (FieldKind::Number(rule), FieldState::Number(n)) => Some(rule.value(n)),
            (FieldKind::Choice(rule), FieldState::Choice(node)) => {
                Some(rule.values[*node as usize].unwrap_or(f64::NAN))
            }
            _ => Some(f64::NAN),
        }
    }

    fn is_complete(&self, s: &FieldState, limit: &Limit) -> bool {
        if *s == self.start() {
            return self.missing == Missing::Empty && limit.presence != Presence::Required;
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => *at == 4,
            _ if limit.presence == Presence::MissingOnly => false,
            (FieldKind::Number(rule), FieldState::Number(n)) => {
                rule.is_complete(n, range_of(rule, limit))
            }
            (FieldKind::Choice(rule), FieldState::Choice(node)) => rule.complete[*node as usize],
            (FieldKind::FreeText(rule), FieldState::FreeText(t)) => rule.is_complete(t),
            _ => false,
        }
    }

    fn step(&self, s: &FieldState, byte: u8, limit: &Limit) -> Option<FieldState> {
        // No value starts with `n` (JSON strings start with a quote), so `null` is unambiguous.
        if self.missing == Missing::Null
            && byte == b'n'
            && *s == self.start()
            && limit.presence != Presence::Required
        {
            return Some(FieldState::Null(1));
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => {
                (b"null".get(*at as usize) == Some(&byte)).then_some(FieldState::Null(at + 1))
            }
            _ if limit.presence == Presence::MissingOnly => None,
            (FieldKind::Number(rule), FieldState::Number(n)) => rule
                .step(n, byte, range_of(rule, limit))
                .map(FieldState::Number),
            (FieldKind::Choice(_), FieldState::Choice(0)) if matches!(limit.value, ValueLimit::Digit(d) if d != byte) => {
                None
            }
            (FieldKind::Choice(rule), FieldState::Choice(node)) => {
                rule.step(*node, byte).map(FieldState::Choice)
            }
            (FieldKind::FreeText(rule), FieldState::FreeText(t)) => {
                rule.step(t, byte).map(FieldState::FreeText)
            }
            _ => None,
        }
    }

    /// Whether the field can take any value at all.
    fn has_values(&self) -> bool {
        self.missing != Missing::No
            || match &self.kind {
                FieldKind::Number(_) | FieldKind::FreeText(_) => true,
                FieldKind::Choice(rule) => rule.has_options(),
            }
    }

    /// A short description of what the field accepts, for error messages.
    fn describe(&self) -> String {
        let what = match &self.kind {
            FieldKind::Number(rule) => rule.describe(&rule.range),
            FieldKind::Choice(_) => "one of the listed values".to_string(),
            FieldKind::FreeText(_) => "a short text".to_string(),
        };
        match self.missing {
            Missing::No => what,
            Missing::Empty => format!("{what} (or empty)"),
            Missing::Null => format!("{what} (or null)"),
        }
    }
}

/// The interval a number field keeps under `limit`.
fn range_of<'a>(rule: &'a NumberRule, limit: &'a Limit) -> &'a Interval {
    match &limit.value {
        ValueLimit::Range(range) => range,
        _ => &rule.range,
    }
}

/// `text` as a CSV field: quoted when it holds a separator, a quote, or could read as a
/// Markdown rule or fence line.
fn csv_field(text: &str) -> String {
    let needs_quotes = text.contains([',', '"', ';', '|', '\t'])
        || text.starts_with('~')
        || text.chars().all(|c| matches!(c, '-' | ':' | ' '));
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Whether the answer parser reads `text` back as exactly `text` in a cell.
fn reads_back(text: &str) -> bool {
    !text.is_empty()
        && clean_text(text) == text
        && !text.chars().any(char::is_control)
        && !is_missing_token(text)
}

// ---------------------------------------------------------------------------------------------
// Grammar

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// A header line, then one comma-separated line per row; missing is an empty field.
    Csv,
    /// JSON Lines: one object per line, keys in column order; missing is `null`.
    JsonLines,
}

/// The answer language for given columns of a schema (see the module docs).
#[derive(Debug, Clone)]
pub struct RowGrammar {
    format: RowFormat,
    header: Vec<u8>,
    /// The text before each field: `,` in CSV (nothing before the first), `,"name":` in JSON.
    prefixes: Vec<Vec<u8>>,
    /// The text after the last field: `\n`, or `}\n` in JSON.
    row_end: Vec<u8>,
    fields: Vec<FieldRule>,
    columns: Vec<String>,
    /// The schema's one-hot sets and orders over these columns.
    cross: CrossRules,
}

impl RowGrammar {
    /// The grammar of CSV answers with `columns` (schema names, in this order); `fixed` columns
    /// (name, value) take only their value. Continuous values get at most
    /// [`DEFAULT_DECIMALS`] decimals.
    pub fn csv(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, LlmError> {
        Self::build(schema, columns, fixed, RowFormat::Csv, DEFAULT_DECIMALS)
    }

    /// [`RowGrammar::csv`] as JSON Lines: `{"a":1,"b":"x","c":null}` per line, no header.
    pub fn json_lines(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, LlmError> {
        Self::build(
            schema,
            columns,
            fixed,
            RowFormat::JsonLines,
            DEFAULT_DECIMALS,
        )
    }

    /// A grammar in `format` with at most `decimals` decimals in continuous values (more only
    /// where a range is too narrow to hold any such value).
    pub fn build(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
    ) -> Result<Self, LlmError> {
        Self::build_with_precision(schema, columns, fixed, format, decimals, &[])
    }

    /// [`RowGrammar::build`] where the columns named in `precision` get their own number of
    /// decimals (the training data's precision: 0 writes integers only), the others `decimals`.
    pub fn build_with_precision(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
        precision: &[(String, u32)],
    ) -> Result<Self, LlmError> {
        let invalid = |m: String| LlmError::Invalid(format!("constrained decoding: {m}"));
        if columns.is_empty() {
            return Err(invalid("no columns to generate".into()));
        }
        let decimals = decimals.min(MAX_DECIMALS);
        for (name, _) in fixed {
            if !columns.contains(name) {
                return Err(invalid(format!(
                    "fixed column '{name}' is not among the generated columns"
                )));
            }
        }
        let json = format == RowFormat::JsonLines;
        let mut fields = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                return Err(invalid(format!("column '{name}' is listed twice")));
            }
            let spec = schema
                .column(name)
                .ok_or_else(|| invalid(format!("column '{name}' is not in the schema")))?;
            let fixed_value = fixed.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            let mut rule = match fixed_value {
                Some(value) => fixed_rule(spec, value, json).map_err(invalid)?,
                None => {
                    let own = precision.iter().find(|(n, _)| n == name).map(|(_, d)| *d);
                    field_rule(
                        spec,
                        columns,
                        own.unwrap_or(decimals).min(MAX_DECIMALS),
                        json,
                    )
                    .ok_or_else(|| invalid(format!("column '{name}': no value fits its range")))?
                }
            };
            // A one-column CSV row that is empty would be a blank line, which parsers skip.
            if rule.missing == Missing::Empty && columns.len() == 1 {
                rule.missing = Missing::No;
            }
            if !rule.has_values() {
                return Err(invalid(format!(
                    "column '{name}' can take no value that reads back as itself"
                )));
            }
            fields.push(rule);
        }
        let (header, prefixes, row_end) = match format {
            RowFormat::Csv => {
                let mut header = columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
                    .into_bytes();
                header.push(b'\n');
                let prefixes = (0..columns.len())
                    .map(|i| if i == 0 { Vec::new() } else { b",".to_vec() })
                    .collect();
                (header, prefixes, b"\n".to_vec())
            }
            RowFormat::JsonLines => {
                let prefixes = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let open = if i == 0 { "{" } else { "," };
                        format!("{open}{}:", json_string(c)).into_bytes()
                    })
                    .collect();
                (Vec::new(), prefixes, b"}\n".to_vec())
            }
        };
        Ok(Self {
            format,
            header,
            prefixes,
            row_end,
            fields,
            columns: columns.to_vec(),
            cross: CrossRules::new(schema, columns, fixed),
        })
    }

    /// The row format.
    pub fn format(&self) -> RowFormat {
        self.format
    }

    /// The generated columns, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The header line with its `\n` (empty for JSON Lines).
    pub fn header(&self) -> &str {
        std::str::from_utf8(&self.header).unwrap_or_default()
    }

    /// What column `index` accepts, in words.
    pub fn describe_field(&self, index: usize) -> Option<String> {
        self.fields.get(index).map(FieldRule::describe)
    }

    /// The literal text before field `column`, or after the last field when `column` is the
    /// number of columns.
    fn literal(&self, column: usize) -> &[u8] {
        self.prefixes.get(column).unwrap_or(&self.row_end)
    }
}

/// The rule of an unconstrained column.
fn field_rule(
    spec: &ColumnSpec,
    columns: &[String],
    decimals: u32,
    json: bool,
) -> Option<FieldRule> {
    let kind = match spec.kind {
        ColumnKind::Continuous => FieldKind::Number(NumberRule::continuous(spec, decimals)?),
        ColumnKind::Integer => FieldKind::Number(NumberRule::new(spec, 0)?),
        ColumnKind::Binary => FieldKind::Choice(ChoiceRule::new(&["0", "1"])),
        ColumnKind::Categorical if spec.categories.is_empty() => {
            FieldKind::FreeText(FreeTextRule {
                forbidden: columns.iter().map(|c| c.to_lowercase()).collect(),
                quoted: json,
            })
        }
        ColumnKind::Categorical => {
            let options: Vec<String> = spec
                .categories
                .iter()
                .filter(|c| reads_back(c) && !columns.iter().any(|name| eq_ci(name, c)))
                .map(|c| if json { json_string(c) } else { csv_field(c) })
                .collect();
            FieldKind::Choice(ChoiceRule::new(&options))
        }
    };
    Some(FieldRule {
        kind,
        missing: missing_kind(spec.missing_allowed, json),
    })
}

fn missing_kind(allowed: bool, json: bool) -> Missing {
    match (allowed, json) {
        (false, _) => Missing::No,
        (true, false) => Missing::Empty,
        (true, true) => Missing::Null,
    }
}

/// The rule of a column fixed to `value`.
fn fixed_rule(spec: &ColumnSpec, value: &str, json: bool) -> Result<FieldRule, String> {
    let name = &spec.name;
    if is_missing_token(value) {
        return if spec.missing_allowed {
            Ok(FieldRule {
                kind: FieldKind::Choice(ChoiceRule::new::<&str>(&[])),
                missing: missing_kind(true, json),
            })
        } else {
            Err(format!(
                "column '{name}' is fixed to a missing value but may not be missing"
            ))
        };
    }
    if !reads_back(value) {
        return Err(format!(
            "column '{name}' is fixed to '{value}', which does not read back as itself"
        ));
    }
    if let Some(reason) = validate_text(spec, value) {
        return Err(format!(
            "column '{name}' is fixed to an invalid value: {reason}"
        ));
    }
    if spec.kind.is_numeric() && parse_number(value).is_none() && spec.kind != ColumnKind::Binary {
        return Err(format!(
            "column '{name}' is fixed to '{value}', not a number"
        ));
    }
    let text = if json {
        json_string(value)
    } else {
        csv_field(value)
    };
    Ok(FieldRule {
        kind: FieldKind::Choice(ChoiceRule::new(&[text])),
        missing: Missing::No,
    })
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Where the automaton is in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At byte `.0` of the header line.
    Header(u32),
    /// At byte `at` of the literal before field `column` of data row `row` (after the last
    /// field when `column` is the number of columns); `written` is the field just completed.
    Literal {
        row: u32,
        column: u32,
        at: u32,
        written: Option<Written>,
    },
    /// In data row `row` (0-based), column `column`, under `limit`.
    Field {
        row: u32,
        column: u32,
        state: FieldState,
        limit: Limit,
    },
    /// All rows written: only end-of-text may follow.
    Done,
}

/// A field's value as the automaton completed it, kept in the position until the next field
/// begins (the decoder's own record of the row has only what accepted tokens wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    column: u32,
    /// The value's `f64` bits; `None` = missing.
    value: Option<u64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The token id is outside the vocabulary.
    #[error("token {token} is not in the vocabulary ({size} tokens)")]
    UnknownToken {
        /// The token.
        token: u32,
        /// Vocabulary size.
        size: usize,
    },
    /// A special token other than end-of-text at the end.
    #[error("special token {token} ({text:?}) cannot be part of the answer")]
    SpecialToken {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
    },
    /// End-of-text before the last row was complete.
    #[error("end-of-text after {rows_done} of {rows} rows; the answer is not complete")]
    EndTooEarly {
        /// Complete data rows so far.
        rows_done: usize,
        /// Rows wanted.
        rows: usize,
    },
    /// A token after the answer was complete.
    #[error("token {token} after the answer was complete; only end-of-text may follow")]
    AfterEnd {
        /// The token.
        token: u32,
    },
    /// A byte of the token breaks the grammar.
    #[error("token {token} ({text:?}) breaks the grammar at byte {offset} ({where_})")]
    Refused {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
        /// Offset of the refused byte in the token.
        offset: usize,
        /// Where in the answer, and what was expected.
        where_: String,
    },
}

/// Masks and follows tokens so that the answer is the header, then `rows` rows, then end-of-text.
pub struct ConstrainedDecoder {
    grammar: Arc<RowGrammar>,
    vocab: Arc<TokenVocabulary>,
    rows: u32,
    position: Position,
    bytes: Vec<u8>,
    ended: bool,
    /// The values of the fields completed by accepted tokens in the current row (only those
    /// before the current position's column are meaningful); empty when the grammar has no
    /// rules across columns.
    row_values: Vec<Option<f64>>,
    /// The state [`ConstrainedDecoder::rewind`] returns to: position, text length, ended.
    mark: Option<(Position, usize, bool)>,
    /// The row values at the mark (a buffer reused from mark to mark: `mark` runs once per
    /// sampled token, so it allocates nothing after the first).
    marked_values: Vec<Option<f64>>,
}

impl ConstrainedDecoder {
    /// A decoder at the start of the answer.
    pub fn new(grammar: Arc<RowGrammar>, vocab: Arc<TokenVocabulary>, rows: usize) -> Self {
        let mut decoder = Self {
            grammar,
            vocab,
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
            position: Position::Header(0),
            bytes: Vec::new(),
            ended: false,
            row_values: Vec::new(),
            mark: None,
            marked_values: Vec::new(),
        };
        if !decoder.grammar.cross.is_empty() {
            decoder.row_values = vec![None; decoder.grammar.fields.len()];
        }
        if decoder.grammar.header.is_empty() {
            decoder.position = decoder.row_start(0);
        }
        decoder
    }

    /// The position after `byte`, if the grammar allows it there.
    fn step(&self, position: &Position, byte: u8) -> Option<Position> {
        let grammar = &*self.grammar;
        match *position {
            Position::Header(at) => {
                let at = at as usize;
                (grammar.header.get(at) == Some(&byte)).then(|| {
                    if at + 1 < grammar.header.len() {
                        Position::Header(at as u32 + 1)
                    } else {
                        self.row_start(0)
                    }
                })
            }
            Position::Literal {
                row,
                column,
                at,
                written,
            } => {
                let literal = grammar.literal(column as usize);
                if literal.get(at as usize) != Some(&byte) {
                    return None;
                }
                if at as usize + 1 < literal.len() {
                    Some(Position::Literal {
                        row,
                        column,
                        at: at + 1,
                        written,
                    })
                } else {
                    self.literal_end(row, column, written)
                }
            }
            Position::Field {
                row,
                column,
                state,
                limit,
            } => {
                let rule = &grammar.fields[column as usize];
                // The field ends where the next literal begins (`,`, `\n`, `,"name":`, `}`);
                // no field value continues with that byte once complete.
                let next = column + 1;
                if grammar.literal(next as usize).first() == Some(&byte)
                    && rule.is_complete(&state, &limit)
                {
                    let written = (!grammar.cross.is_empty()).then(|| Written {
                        column,
                        value: rule.value(&state).map(f64::to_bits),
                    });
                    return if grammar.literal(next as usize).len() > 1 {
                        Some(Position::Literal {
                            row,
                            column: next,
                            at: 1,
                            written,
                        })
                    } else {
                        self.literal_end(row, next, written)
                    };
                }
                rule.step(&state, byte, &limit)
                    .map(|state| Position::Field {
                        row,
                        column,
                        state,
                        limit,
                    })
            }
            Position::Done => None,
        }
    }

    /// Where the automaton is once the literal before field `column` of `row` is read (or, at
    /// the start of a row, skipped when empty), `written` being the field just completed;
    /// `None` when the field's limit depends on a value this path no longer knows.
    fn literal_end(&self, row: u32, column: u32, written: Option<Written>) -> Option<Position> {
        let grammar = &*self.grammar;
        if column as usize == grammar.fields.len() {
            return Some(self.row_start(row + 1));
        }
        let rule = &grammar.fields[column as usize];
        let limit = if grammar.cross.is_empty() {
            Limit::FREE
        } else {
            rule.limit(
                grammar
                    .cross
                    .bound(column, |other| self.earlier(row, column, other, written))?,
            )
        };
        Some(Position::Field {
            row,
            column,
            state: rule.start(),
            limit,
        })
    }

    /// What is known of field `other` of `row` when field `column` begins: its fixed value,
    /// the field just completed on this path, or what accepted tokens wrote.
    fn earlier(&self, row: u32, column: u32, other: u32, written: Option<Written>) -> Earlier {
        if let Some(value) = self.grammar.cross.fixed(other) {
            return Earlier::Known(value);
        }
        if other >= column {
            return Earlier::NotYet;
        }
        if let Some(w) = written.filter(|w| w.column == other) {
            return Earlier::Known(w.value.map(f64::from_bits));
        }
        let accepted = match self.position {
            Position::Literal {
                row: r, column: c, ..
            }
            | Position::Field {
                row: r, column: c, ..
            } => r == row && other < c,
            _ => false,
        };
        if accepted {
            Earlier::Known(self.row_values[other as usize])
        } else {
            Earlier::Lost
        }
    }

    /// The field a step from `from` to `to` completed, if it left one and the decoder keeps
    /// the row's values.
    fn completion(&self, from: &Position, to: &Position) -> Option<Written> {
        if self.row_values.is_empty() {
            return None;
        }
        let Position::Field {
            row, column, state, ..
        } = *from
        else {
            return None;
        };
        if matches!(*to, Position::Field { row: r, column: c, .. } if r == row && c == column) {
            return None;
        }
        let value = self.grammar.fields[column as usize].value(&state);
        Some(Written {
            column,
            value: value.map(f64::to_bits),
        })
    }

    /// The start of data row `row`.
    fn row_start(&self, row: u32) -> Position {
        if row >= self.rows {
            return Position::Done;
        }
        if self.grammar.literal(0).is_empty() {
            // The first field has no earlier field in its row, so its limit is always known.
            self.literal_end(row, 0, None).unwrap_or(Position::Done)
        } else {
            Position::Literal {
                row,
                column: 0,
                at: 0,
                written: None,
            }
        }
    }

    /// Sets `mask[id]` to whether token `id` may come next (ids beyond the vocabulary: false).
    pub fn allowed(&mut self, mask: &mut [bool]) {
        mask.fill(false);
        if self.ended {
            return;
        }
        if self.position == Position::Done {
            if let Some(m) = mask.get_mut(self.vocab.end_of_text as usize) {
                *m = true;
            }
            return;
        }
        self.vocab.trie.walk(
            self.position,
            |p, b| self.step(p, b),
            |id| {
                if let Some(m) = mask.get_mut(id as usize) {
                    *m = true;
                }
            },
        );
    }

    /// Follows token `token`; on error nothing changes.
    pub fn accept(&mut self, token: u32) -> Result<(), GrammarError> {
        let vocab = &*self.vocab;
        let Some(bytes) = vocab.bytes(token) else {
            return Err(GrammarError::UnknownToken {
                token,
                size: vocab.len(),
            });
        };
        let text = || String::from_utf8_lossy(bytes).into_owned();
        if self.ended {
            return Err(GrammarError::AfterEnd { token });
        }
        if token == vocab.end_of_text {
            if self.position != Position::Done {
                return Err(GrammarError::EndTooEarly {
                    rows_done: self.rows_done(),
                    rows: self.rows as usize,
                });
            }
            self.ended = true;
            return Ok(());
        }
        if self.position == Position::Done {
            return Err(GrammarError::AfterEnd { token });
        }
        if vocab.is_special(token) {
            return Err(GrammarError::SpecialToken {
                token,
                text: text(),
            });
        }
        let mut position = self.position;
        let mut completed: Vec<Written> = Vec::new();
        for (offset, &b) in bytes.iter().enumerate() {
            match self.step(&position, b) {
                Some(next) => {
                    if let Some(w) = self.completion(&position, &next) {
                        completed.push(w);
                    }
                    position = next;
                }
                None => {
                    return Err(GrammarError::Refused {
                        token,
                        text: text(),
                        offset,
                        where_: self.describe(&position),
                    });
                }
            }
        }
        self.bytes.extend_from_slice(bytes);
        self.position = position;
        for w in completed {
            if let Some(slot) = self.row_values.get_mut(w.column as usize) {
                *slot = w.value.map(f64::from_bits);
            }
        }
        Ok(())
    }

    fn describe(&self, position: &Position) -> String {
        match *position {
            Position::Header(at) => format!(
                "header line at byte {at}, expected {:?}",
                self.grammar.header()
            ),
            Position::Literal { row, column, .. } => format!(
                "row {}, expected {:?}",
                row + 1,
                String::from_utf8_lossy(self.grammar.literal(column as usize))
            ),
            Position::Field { row, column, .. } => format!(
                "row {}, column '{}': expected {}",
                row + 1,
                self.grammar.columns[column as usize],
                self.grammar.fields[column as usize].describe()
            ),
            Position::Done => "after the last row".to_string(),
        }
    }

    /// True when all rows are written (only end-of-text may follow).
    pub fn is_finished(&self) -> bool {
        self.position == Position::Done
    }

    /// Remembers where the decoder stands, for [`ConstrainedDecoder::rewind`].
    pub fn mark(&mut self) {
        self.mark = Some((self.position, self.bytes.len(), self.ended));
        self.marked_values.clone_from(&self.row_values);
    }

    /// Goes back to the last mark, forgetting the tokens accepted since; false without one.
    pub fn rewind(&mut self) -> bool {
        let Some((position, len, ended)) = self.mark.take() else {
            return false;
        };
        self.position = position;
        self.bytes.truncate(len);
        self.ended = ended;
        self.row_values.clone_from(&self.marked_values);
        true
    }

    /// Complete data rows so far.
    pub fn rows_done(&self) -> usize {
        match self.position {
            Position::Header(_) => 0,
            Position::Literal { row, .. } | Position::Field { row, .. } => row as usize,
            Position::Done => self.rows as usize,
        }
    }

    /// The header line the answer starts with (empty for JSON Lines).
    pub fn header(&self) -> &str {
        self.grammar.header()
    }

    /// The answer so far (a token that ends inside a multi-byte character shows up once the
    /// character is complete).
    pub fn text(&self) -> &str {
        match std::str::from_utf8(&self.bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_strings_decode_to_bytes() {
        let tokens: Vec<String> = ["<|endoftext|>", "Ġthe", "Ċ", ",Ċ", "Ã©", "12"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vocab = TokenVocabulary::from_byte_level(&tokens, 0);
        assert_eq!(vocab.bytes(1), Some(&b" the"[..]));
        assert_eq!(vocab.bytes(2), Some(&b"\n"[..]));
        assert_eq!(vocab.bytes(3), Some(&b",\n"[..]));
        assert_eq!(vocab.bytes(4), Some("é".as_bytes()));
        assert!(vocab.is_special(0) && !vocab.is_special(5));
        assert_eq!(byte_level_decoder().len(), 256);
    }

    #[test]
    fn special_tokens_are_recognised() {
        assert!(looks_special(b"<|im_start|>"));
        assert!(looks_special(b"<repo_name>"));
        assert!(looks_special(b"<|endoftext|>"));
        assert!(!looks_special(b"<5"));
        assert!(!looks_special(b"<b>"));
        assert!(!looks_special(b"a<b>"));
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("MICU"), "MICU");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("5\"6"), "\"5\"\"6\"");
        assert_eq!(csv_field("--"), "\"--\"");
        assert!(!reads_back(" a") && !reads_back("None") && !reads_back("'a'"));
        assert!(reads_back("Other/Unknown"));
    }
}
